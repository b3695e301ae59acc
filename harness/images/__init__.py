"""Container images for the docker runtime: recipes hashed into tags, built offline from a Debian base.

recipes.py plans and names them (pure), debian.py makes the root file system, build.py builds what
is missing, vendors.py runs a vendor inside its image.
"""
