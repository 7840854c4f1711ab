"""ganlab's Python API: the names `import ganlab` offers (see ganlab/__init__.py and
docs/python.md). A front end beside the command line, over the same library: `run` (a trained
run: render, edit, walk, project), `images` (PIL images and grids) and `tasks` (train,
evaluate, probe)."""
