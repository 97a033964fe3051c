#!/bin/sh
# Installs every Debian package featcache needs to build, test and benchmark (run as root).
# Build: compiler, protobuf-c + the ONNX schema, libjpeg-turbo, libpng, libwebp, giflib, libtiff,
# LMDB, SQLite.
# Tests: numpy/torch/torchvision/onnx for the torchvision export reference test; numpy, sklearn and
# torch for the Python package's tests (tests/python: featcache.torch, the scikit-learn mapping); PIL and onnx make
# the fault-test inputs (tests/support/make_fixtures.py); GNU time measures peak RSS; Fashion-MNIST is
# the memory benchmark's data (scripts/bench_extract.sh).
# Fuzzing (make fuzz, scripts/fuzz.sh): clang with libFuzzer and the sanitizer runtimes, libomp.
# Cluster test (tests/cli/test_slurm.sh starts its own slurmctld, slurmd and munged): slurm-wlm, munge.
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update
apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends \
    build-essential make pkg-config \
    libprotobuf-c-dev protobuf-c-compiler libonnx-dev \
    libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev libtiff-dev liblmdb-dev libsqlite3-dev \
    python3 python3-numpy python3-pil python3-torch python3-torchvision python3-onnx python3-sklearn bc time \
    dataset-fashion-mnist \
    clang libclang-rt-14-dev libomp-dev \
    slurm-wlm munge
