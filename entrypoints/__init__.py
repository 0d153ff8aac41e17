"""Reference Script Mode training entrypoint (the container side).

This directory is the ``source_dir`` the launcher packages. Inside the container it is the working
directory and ``sys.path[0]``, so its modules import each other flat (``import steps``). The pure
modules ``steps``, ``schedules`` and ``hyperparameters`` use only the standard library and import no
sibling, so the launcher can also import them as ``entrypoints.steps`` etc. without torch.
"""
