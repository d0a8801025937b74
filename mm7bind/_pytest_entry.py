"""pytest's entry point for mm7bind's plugin (mm7bind.testing), registered as "mm7bind": so
`-p no:mm7bind` leaves it out, and `-p mm7bind` loads it with autoloading off.

The plugin itself is loaded below under its module's name, as `-p mm7bind.testing` and
`pytest_plugins = ["mm7bind.testing"]` load it: pytest refuses one module registered under two
names, and skips one already registered, or blocked by `-p no:mm7bind.testing`.
"""

pytest_plugins = ["mm7bind.testing"]
