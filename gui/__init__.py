"""rtpose desktop viewer (PyQt5): a thin shell over :mod:`rtpose.engine.pipeline` and :mod:`rtpose.io.render`.

Start it with ``rtpose gui``, the ``rtpose-gui`` script or ``python -m gui``.

Before its QApplication exists, the viewer calls :func:`rtpose.compat.prepare_qt_environment` (importing the package
changes nothing, so that ``rtpose --help`` and OpenCV's own windows are unaffected): the opencv-python
wheel points
``QT_QPA_PLATFORM_PLUGIN_PATH`` (and ``QT_QPA_FONTDIR``) at the Qt plugins it bundles for its own
``highgui`` windows. PyQt5 would then load OpenCV's ``libqxcb.so`` against its own Qt libraries and
abort with "Could not load the Qt platform plugin xcb". The variables are only read when the
``QApplication`` is created, so clearing them works whether ``cv2`` was imported before or after.

It also keeps Qt's xcb platform from loading OpenGL (``QT_XCB_GL_INTEGRATION=none``, unless the user
set it): the viewer paints with the CPU and needs no GL, and on Mesa systems (Intel/AMD graphics,
VMs, remote desktops) Mesa's GL brings its own LLVM into the process; when PyTorch then loads Triton,
which carries another LLVM, the process crashes with a segmentation fault.
"""

from __future__ import annotations

from rtpose.compat import prepare_qt_environment

__all__ = ["prepare_qt_environment"]
