import nonexistent_package_xyz  # noqa: F401
