"""Files: atomic writes (``atomic``) and reading a torch file a user names (``torch_files``)."""
