#!/usr/bin/env bash
# scripts/gpu-bundle.sh — prepares, on a Debian 12 machine with a package mirror, what
# scripts/gpu-check.sh needs on the bare GPU machine lent by the device tool (issue 11): that
# machine has nvcc, CMake, ninja, gcc and python3 but none of Debian's SimGrid, GSL, OpenBLAS,
# CUnit, libconfig, Open MPI, pkg-config or the Fashion-MNIST data set, and no registry.
#   scripts/gpu-bundle.sh            writes .gpu-bundle/ (ignored by git; the device call's carry)
# Downloads the Debian packages below (`apt-get download`, hash-checked by apt) into a cache
# ($QSGDSIM_GPU_DEB_CACHE, default /var/tmp/qsgdsim-gpu-debs: not carried), unpacks them with
# `dpkg-deb -x` into a staging tree, trims what the build, the suite and the benchmarks never
# use (static libraries, docs, Fortran/Java MPI bindings, the ns-3 modules SimGrid does not
# link, LAPACK), makes the alternatives links dpkg would have made, and packs
#   .gpu-bundle/prefix.tar.xz   the trimmed tree (usr/..., relocatable: gpu-check.sh fixes paths)
#   .gpu-bundle/fmnist.tar.xz   the four Fashion-MNIST IDX files, uncompressed inside (xz is
#                               ~4 MB smaller than the data set's own .gz files)
#   .gpu-bundle/MANIFEST        package, version, .deb and sha256 of every package used
# The .debs themselves (78 MB) would not fit the device tool's 64 MiB carry limit. Idempotent:
# nothing is downloaded or packed again when MANIFEST already matches. Prints the sizes.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bundle=$root/.gpu-bundle
cache=${QSGDSIM_GPU_DEB_CACHE:-/var/tmp/qsgdsim-gpu-debs}
FORMAT=2 # bump when the trimming or the layout below changes

# Runtime libraries (the closure of what the build links, resolved against Debian 12 with
# `apt-cache depends`; libc6, libstdc++6, libgcc-s1 and the compiler come from the image).
# Base libraries that the image most likely has (zlib1g, libgfortran5, libquadmath0,
# libatomic1, libudev1, libsqlite3-0, libnuma1) are bundled too; gpu-check.sh uses the
# system's copy of those where it has one. Not bundled on purpose: libxml2/libicu72 (only
# ns-3 modules SimGrid does not load), ibverbs-providers and libhwloc-plugins (optional
# plugins), openssh-client (mpirun on one node does not need it).
RUNTIME=(
  libsimgrid3.32 libboost-context1.74.0 libboost-stacktrace1.74.0 libns3.37
  libgsl27 libgslcblas0 libopenblas0-pthread libgfortran5 libquadmath0
  libcunit1 libconfig9 zlib1g libsqlite3-0 libudev1 libatomic1 libnuma1
  # Open MPI (sim_repro: SMPI == OpenMPI bit for bit)
  openmpi-bin openmpi-common libopenmpi3 libevent-core-2.1-7 libevent-pthreads-2.1-7
  libfabric1 libhwloc15 libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpmix2
  libpsm-infinipath1 libpsm2-2 libucx0 libmunge2
  # pkg-config (CMake's pkg_check_modules); make (gpu-check.sh builds with Makefiles, the
  # generator its rehearsal used)
  pkgconf pkgconf-bin libpkgconf3 pkg-config make
)
# Headers, .pc files and .so links, without their own dependencies (libsimgrid-dev's
# libboost-dev and libopenmpi-dev's Fortran/hwloc/event -dev packages are not needed for C).
DEV=(libsimgrid-dev libgsl-dev libopenblas-pthread-dev libcunit1-dev libconfig-dev zlib1g-dev
     libopenmpi-dev)
DATA=dataset-fashion-mnist

say() { printf 'gpu-bundle: %s\n' "$*"; }
die() { printf 'gpu-bundle: error: %s\n' "$*" >&2; exit 1; }
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || die "needs apt-get and dpkg-deb (Debian 12)"
for t in xz objdump sha256sum; do command -v $t >/dev/null || die "needs $t"; done

# The candidate .deb of every package (name version filename), from the local apt lists.
all=("${RUNTIME[@]}" "${DEV[@]}" "$DATA")
mkdir -p "$cache"
manifest=$(mktemp); trap 'rm -f "$manifest"' EXIT
echo "# qsgdsim gpu bundle format $FORMAT" > "$manifest"
# "package version file" (file as apt-get download names it) for every package, in one query
apt-cache show --no-all-versions "${all[@]}" 2>/dev/null | awk '
  /^Package:/{p=$2} /^Version:/{v=$2} /^Architecture:/{a=$2}
  /^$/{if (p != "") {e=v; gsub(/:/, "%3a", e); print p, v, p "_" e "_" a ".deb"}; p=""}
  END{if (p != "") {e=v; gsub(/:/, "%3a", e); print p, v, p "_" e "_" a ".deb"}}' > "$manifest.info"
need=()
for p in "${all[@]}"; do
  info=$(awk -v p="$p" '$1 == p {print $2, $3; exit}' "$manifest.info")
  [ -n "$info" ] || die "package $p unknown to apt (run apt-get update)"
  read -r ver file <<< "$info"
  echo "$p $ver $file" >> "$manifest"
  [ -s "$cache/$file" ] || need+=("$p")
done
rm -f "$manifest.info"
if [ ${#need[@]} -gt 0 ]; then
  say "downloading ${#need[@]} packages into $cache"
  (cd "$cache" && apt-get download -q "${need[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed") \
    || die "apt-get download failed"
fi
# sha256 of each .deb into the manifest (apt checked them against the signed lists)
while read -r name ver file; do
  case $name in \#*) echo "$name $ver $file";; *) echo "$name $ver $file $(sha256sum "$cache/$file" | cut -c1-64)";; esac
done < "$manifest" > "$manifest.2" && mv "$manifest.2" "$manifest"

# Dependencies of the bundled runtime packages that are not bundled: what the image must have.
declare -A inb=(); for p in "${all[@]}"; do inb[$p]=1; done
assumed=$(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "${RUNTIME[@]}" 2>/dev/null \
          | awk '/^ *\|?(Pre)?Depends:/{print $2}' | tr -d '<>' | sort -u \
          | while read -r d; do [ -n "${inb[$d]:-}" ] || echo "$d"; done | tr '\n' ' ')

if [ -f "$bundle/MANIFEST" ] && cmp -s "$manifest" "$bundle/MANIFEST" \
   && [ -s "$bundle/prefix.tar.xz" ] && [ -s "$bundle/fmnist.tar.xz" ]; then
  say "up to date ($bundle/MANIFEST unchanged)"
else
  rm -rf "$bundle"; mkdir -p "$bundle"
  stage=$(mktemp -d "${TMPDIR:-/tmp}/qsgdsim-gpu-stage.XXXXXX")
  trap 'rm -f "$manifest"; rm -rf "$stage"' EXIT
  while read -r name ver file sum; do
    case $name in \#*|"$DATA") continue;; esac
    dpkg-deb -x "$cache/$file" "$stage/root"
  done < "$manifest"
  cd "$stage/root"
  L=usr/lib/x86_64-linux-gnu
  # trim
  rm -rf usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/bug \
         usr/share/java $L/fortran $L/openblas-pthread/liblapack* $L/openblas-pthread/libblas* \
         $L/openblas-pthread/cmake
  find . -name '*.a' -delete
  find . -name '*.mod' -delete
  rm -f $L/libmpi_java* $L/libmpi_mpifh* $L/libmpi_usempi* $L/openmpi/lib/libmpi_java* \
        $L/openmpi/lib/libmpi_mpifh* $L/openmpi/lib/libmpi_usempi* usr/bin/mpijavac*
  # keep the ns-3 modules libsimgrid needs (recursively), drop the rest
  declare -A keep=()
  queue=($L/libsimgrid.so.3.32)
  while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}; queue=("${queue[@]:1}")
    for n in $(objdump -p "$f" | awk '/NEEDED/ && $2 ~ /^libns3-/ {print $2}'); do
      [ -n "${keep[$n]:-}" ] && continue
      keep[$n]=1; queue+=("$L/$n")
    done
  done
  for f in $L/libns3-*.so*; do
    n=$(basename "$f"); [ -n "${keep[${n%.so*}.so.37]:-}" ] || rm -f "$f"
  done
  [ -e $L/libns3-core.so.37 ] || die "ns-3 trimming removed libns3-core"
  # alternatives links that dpkg's postinst scripts would make (relative: the tree is relocated)
  ln -sf openblas-pthread/libopenblas.so $L/libopenblas.so
  ln -sf openblas-pthread/libopenblas.so.0 $L/libopenblas.so.0
  for t in mpicc mpicxx mpirun mpiexec; do ln -sf $t.openmpi usr/bin/$t; done
  mkdir -p usr/include/x86_64-linux-gnu
  ln -sfn ../../lib/x86_64-linux-gnu/openmpi/include usr/include/x86_64-linux-gnu/mpi
  # absolute symlinks (e.g. libz.so -> /lib/...) made relative to the tree
  find . -type l -lname '/*' | while read -r l; do
    t=$(readlink "$l"); [ -e ".$t" ] && ln -sfr ".$t" "$l" || say "note: dangling link $l -> $t"
  done
  cd "$root"
  say "packing prefix.tar.xz ($(du -sh "$stage/root" | cut -f1) unpacked)"
  tar -C "$stage/root" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . \
    | xz -9 -T"$(nproc)" > "$bundle/prefix.tar.xz.partial"
  mv "$bundle/prefix.tar.xz.partial" "$bundle/prefix.tar.xz"
  # the data set: the IDX files uncompressed in an xz tarball (gpu-check.sh gzips them back)
  read -r _ _ dfile _ < <(grep "^$DATA " "$manifest")
  dpkg-deb -x "$cache/$dfile" "$stage/data"
  mkdir -p "$stage/fmnist"
  for f in "$stage"/data/usr/share/datasets/fashion-mnist/*.gz; do
    gzip -dc "$f" > "$stage/fmnist/$(basename "$f" .gz)"
  done
  say "packing fmnist.tar.xz"
  tar -C "$stage/fmnist" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . \
    | xz -9 -T"$(nproc)" > "$bundle/fmnist.tar.xz.partial"
  mv "$bundle/fmnist.tar.xz.partial" "$bundle/fmnist.tar.xz"
  cp "$manifest" "$bundle/MANIFEST"
fi

say "assumed in the image (not bundled): $assumed"
b=$(du -cb "$bundle"/* | tail -1 | cut -f1)
w=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | awk '/\ttotal$/{s+=$1} END{print s+0}')
u=$(git ls-files -z --others --exclude-standard | xargs -0 -r du -cb 2>/dev/null | awk '/\ttotal$/{s+=$1} END{print s+0}')
limit=$((64 * 1024 * 1024))
say "bundle: $b bytes ($(ls "$bundle" | tr '\n' ' '))"
say "working tree: $w bytes tracked + $u untracked; with the bundle $((b + w + u)) of the device tool's $limit (64 MiB)"
[ $((b + w + u)) -lt $limit ] || die "bundle + working tree exceed the 64 MiB carry limit"
