"""posekit.fit: the photo fit as a command line (``python -m posekit.fit image PHOTO --prior gmm --out DIR``),
its output files (``outputs.py``; ``smplx_image.py`` and ``outputs_smplx.py`` for ``--model smplx``) and the rendered test photos with a known answer (``synthetic.py``).

The top layer: may import every other part of posekit, ``posekit.viz`` included.
"""
