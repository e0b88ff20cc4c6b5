"""What a person who wants an avatar touches: text-to-avatar, image-to-avatar, editing, animation,
and the evaluation of how well generated avatars follow their prompts."""
