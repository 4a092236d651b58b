"""The track-repeating fast dose mode (Li et al. 2005, Med. Phys. 32, 1018; Yepes et al. 2010, Med. Phys.
37, 4417): proton histories in water recorded once by the full engine (:mod:`.build`, kept by
:mod:`.database`), re-traced through the patient by :mod:`braggdesk.engine.kernel.retrace`
(:mod:`.inputs` packs them for the kernel, :mod:`.executor` runs it)."""
