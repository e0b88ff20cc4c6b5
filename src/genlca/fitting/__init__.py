"""Keypoints + person masks (detection) and body-model fitting per video."""
