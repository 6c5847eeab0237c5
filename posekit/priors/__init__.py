"""posekit.priors."""
