"""Route planning with charging stops: where to stop, for how long, and what it costs."""
