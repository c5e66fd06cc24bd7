# On the target: the wheel pip installed into a fresh directory (argv[1])
# is the one imported, its C++ extension (built by scikit-build-core) is
# loaded, and it gives the results upstream documents.
import sys

site = sys.argv[1]
sys.path.insert(0, site)
import Levenshtein
from Levenshtein import levenshtein_cpp

assert Levenshtein.__file__.startswith(site), Levenshtein.__file__
ext = levenshtein_cpp.__file__
assert ext.startswith(site) and ext.endswith(".so"), ext
assert Levenshtein.median is levenshtein_cpp.median, "the C++ extension is not the one in use"
fixme = ["Levnhtein", "Leveshein", "Leenshten", "Leveshtei", "Lenshtein", "Lvenstein", "Levenhtin", "evenshtei"]
assert Levenshtein.median(["SpSm", "mpamm", "Spam", "Spa", "Sua", "hSam"]) == "Spam"
assert Levenshtein.median(fixme) == "Levenshtein"
assert Levenshtein.quickmedian(fixme) == "Levnshein"
assert Levenshtein.median_improve("spam", fixme) == "enhtein"
assert Levenshtein.setmedian(["ehee", "cceaes", "chees", "chreesc", "chees", "cheesee", "cseese", "chetese"]) == "chees"
a, b = ["newspaper", "litter bin", "tinny", "antelope"], ["caribou", "sausage", "gorn", "woody"]
# Upstream's docstrings print these truncated to six places.
assert abs(Levenshtein.setratio(a, b) - 0.281845) < 1e-5, Levenshtein.setratio(a, b)
assert abs(Levenshtein.seqratio(a, b) - 0.215178) < 1e-5, Levenshtein.seqratio(a, b)
assert Levenshtein.distance("kitten", "sitting") == 3
print("levenshtein: levenshtein_cpp loaded from", ext)
