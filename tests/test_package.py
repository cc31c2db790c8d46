"""The package's public names: each imported from its module on first use (PEP 562)."""

import subprocess
import sys
from importlib import import_module

import pytest

import psa_geo


@pytest.mark.parametrize("name", psa_geo.__all__)
def test_every_public_name_is_its_modules(name):
    module = import_module(f"psa_geo.{psa_geo._MODULE_OF[name]}")
    namespace = {}
    exec(f"from psa_geo import {name} as value", namespace)
    assert namespace["value"] is getattr(module, name) is getattr(psa_geo, name)


def test_public_names_are_listed_once_and_shown_by_dir():
    assert sorted(psa_geo.__all__) == sorted(psa_geo._MODULE_OF)
    assert len(set(psa_geo.__all__)) == len(psa_geo.__all__)
    assert set(psa_geo.__all__) <= set(dir(psa_geo))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'rate_tabel'"):
        psa_geo.rate_tabel  # noqa: B018


SCRIPT = """
import sys
import psa_geo
after_package = sorted(m for m in ("folium", "rasterio", "matplotlib") if m in sys.modules)
import psa_geo.build, psa_geo.cli
after_build = sorted(m for m in ("folium", "rasterio", "matplotlib") if m in sys.modules)
import psa_geo.hotspots  # imports the modules psa_geo.kde and psa_geo.gistar
print(after_package, after_build, type(psa_geo.kde).__name__, type(psa_geo.gistar).__name__,
      type(psa_geo.hotspot_change).__name__)
"""


def test_import_loads_no_maps_and_keeps_functions_named_as_modules():
    """``import psa_geo`` and the build (until it draws maps) load neither folium, rasterio
    nor matplotlib; ``psa_geo.kde`` stays the function once its module is loaded."""
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert run.stdout.split() == ["[]", "[]", "function", "function", "function"]
