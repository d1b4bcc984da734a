"""``import dualgan`` then ``dualgan.data.ring(8)``, as docs/trust_region.md and docs/games.md write it, works in a
fresh interpreter (it raised AttributeError: module 'dualgan' has no attribute 'data'), without importing every
family up front."""
import pkgutil
import subprocess
import sys

import dualgan


def test_every_family_is_an_attribute_of_the_package_on_first_use():
    code = ("import sys, dualgan\n"
            "assert not any(m.startswith('dualgan.') for m in sys.modules), sorted(sys.modules)\n"
            "print(dualgan.data.ring(8).centers.shape[0], dualgan.trust_region.TrustRegionGAN.__name__)\n"
            "try:\n    dualgan.nope\nexcept AttributeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.splitlines() == ["8 TrustRegionGAN", "module 'dualgan' has no attribute 'nope'"]


def test_the_lazy_names_are_the_packages_of_dualgan():
    packages = {m.name for m in pkgutil.iter_modules(dualgan.__path__) if m.ispkg}
    assert dualgan._SUBPACKAGES == packages
