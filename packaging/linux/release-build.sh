#!/bin/sh
# The Linux release build, as CI runs it: on AlmaLinux 8 (glibc 2.28), so the bundle starts on
# Ubuntu 20.04, Debian 10, RHEL 8 and everything newer; build.py fails if it needs a newer glibc.
#
#   packaging/linux/release-build.sh           in an almalinux:8 container (podman or docker), from the
#                                              repository root; needs qemu-x86_64-static on this machine
#                                              (apt-get install qemu-user-static) for the emulated-CPU test
#   packaging/linux/release-build.sh --here    the same steps on this machine, with its own glibc
#                                              (how the numbers in packaging/README.md were made)
#
# Outputs: dist/Hearth-<version>-linux-x86_64.tar.gz and dist/build-report.json. The llama.cpp
# wheel (all CPU variants: long to compile) is kept in build/wheels/ for the next run.
set -eu
cd "$(dirname "$0")/../.."
image="${HEARTH_BUILD_IMAGE:-docker.io/library/almalinux:8}"

case "${1:-}" in
--inside)
    # AlmaLinux 8's own Python 3.11 (a shared libpython, no RUNPATH into a build machine's folders),
    # GCC 12 from gcc-toolset (links to the system's old libstdc++ the way manylinux does), and the
    # X11/GL libraries Qt links, so PyInstaller bundles what Qt needs.
    dnf install -y -q python3.11 python3.11-devel python3.11-pip gcc-toolset-12-gcc gcc-toolset-12-gcc-c++ \
        cmake git binutils findutils mesa-libGL mesa-libEGL libxkbcommon libxkbcommon-x11 fontconfig \
        freetype glib2 dbus-libs libX11 libxcb xcb-util-wm xcb-util-image xcb-util-keysyms \
        xcb-util-renderutil
    dnf install -y -q xcb-util-cursor || echo "xcb-util-cursor not in this image: Qt's X11 plugin then needs the user's"
    # shellcheck disable=SC1091
    . /opt/rh/gcc-toolset-12/enable
    python3.11 packaging/make_build_env.py /opt/hearth-build-venv --wheels build/wheels
    exec /opt/hearth-build-venv/bin/python packaging/build.py --max-glibc 2.28
    ;;
--here)
    python="${PYTHON:-python3.11}"
    venv="${HEARTH_BUILD_VENV:-build/release-venv}"
    "$python" packaging/make_build_env.py "$venv" --wheels build/wheels ${HEARTH_TORCH_INDEX+--torch-index "$HEARTH_TORCH_INDEX"}
    exec "$venv/bin/python" packaging/build.py
    ;;
"")
    engine=$(command -v podman || command -v docker || true)
    [ -n "$engine" ] || { echo "release-build.sh: needs podman or docker (or run it with --here)." >&2; exit 1; }
    qemu=$(command -v qemu-x86_64-static || true)
    [ -n "$qemu" ] || { echo "release-build.sh: needs qemu-x86_64-static (apt-get install qemu-user-static)." >&2; exit 1; }
    exec "$engine" run --rm -v "$PWD:/src" -w /src -v "$qemu:/usr/local/bin/qemu-x86_64:ro" \
        -e CMAKE_BUILD_PARALLEL_LEVEL "$image" sh packaging/linux/release-build.sh --inside
    ;;
*)
    echo "usage: release-build.sh [--here]" >&2
    exit 2
    ;;
esac
