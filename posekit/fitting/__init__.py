"""posekit.fitting."""
