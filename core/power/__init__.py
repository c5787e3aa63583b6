"""Power management: sharing a site's grid connection between its chargers (issue 13)."""
