"""Computer-vision workloads run inside the workload images: `python -m media_pipeline ...`.

Plain Python (OpenCV, PyAV, face_recognition); it must never import Django, because the
images that run it do not ship the panel.
"""

__version__ = "0.1.0"
