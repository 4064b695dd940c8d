"""gridctl's state: what it manages (addresses, ids, fingerprints — never a value), with one
interface and two backends: a local file (:mod:`.local`) and a file in a GitHub repository
committed by compare-and-swap (:mod:`.github`)."""
