"""String helpers for the top-level BUILD (BUILD files may not define functions)."""

def module_name(path):
    """tfvae/models/vae.py -> tfvae/models/vae (the py_library's name)."""
    return path[:-len(".py")]

def package_inits(path, modules):
    """Targets of the __init__.py modules of the packages enclosing `path`.

    Args:
      path: a module, e.g. "tfvae/models/vae.py".
      modules: every module that has a py_library, as repository paths.
    """
    parts = path.split("/")[:-1]
    inits = []
    for i in range(1, len(parts) + 1):
        init = "/".join(parts[:i]) + "/__init__.py"
        if init != path and init in modules:
            inits.append("//:" + module_name(init))
    return inits

def test_name(path):
    """tests/test_foo.py -> test_foo; tests/sub/test_bar.py -> sub/test_bar."""
    return module_name(path[len("tests/"):])
