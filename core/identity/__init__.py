"""How a car identifies itself: Autocharge vehicle ids and Plug & Charge contracts."""
