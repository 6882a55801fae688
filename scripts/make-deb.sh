#!/usr/bin/env bash
# make-deb.sh - build the Debian package rampart_<version>_<arch>.deb.
#
#   scripts/make-deb.sh [OUT_DIR]          (default: build-deb/)
#
# A build of its own (build-deb/tree: prefix /usr, configuration in
# /etc/rampart, no tests), installed into a staging directory, adjusted for
# the package (logs in /var/log/rampart, User www-data), then packed with
# dpkg-deb.  Dependencies come from dpkg-shlibdeps; the llhttp runtime
# package (libllhttp9.2 on Debian 12) is checked to be among them.  packaging/deb/ holds the
# control template, the maintainer scripts and the logrotate file.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-deb}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
TREE=$OUT/tree
STAGE=$OUT/stage
JOBS=${JOBS:-$(nproc)}
die() { echo "make-deb: $*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps fakeroot; do
    command -v "$t" >/dev/null || die "$t not found (Debian packages dpkg-dev and fakeroot)"
done

cmake -S "$ROOT" -B "$TREE" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DCMAKE_INSTALL_SYSCONFDIR=/etc -DRP_TESTS=OFF >/dev/null
cmake --build "$TREE" -j"$JOBS" >/dev/null
rm -rf "$STAGE"
DESTDIR="$STAGE" cmake --install "$TREE" >/dev/null

# The packaged configuration: files for the logs, www-data after binding.
conf=$STAGE/etc/rampart/rampart-httpd.conf
[ -f "$conf" ] || die "no $conf after install"
sed -i -e 's|^#AccessLog /var/log/rampart/access.log$|AccessLog /var/log/rampart/access.log|' \
    -e 's|^#ErrorLog /var/log/rampart/error.log$|ErrorLog /var/log/rampart/error.log|' \
    -e 's|^#User nobody$|User www-data|' "$conf"
for want in "AccessLog /var/log/rampart/access.log" "ErrorLog /var/log/rampart/error.log" \
    "User www-data"; do
    grep -qx "$want" "$conf" || die "conf/rampart-httpd.conf changed: cannot set '$want'"
done
install -D -m 0644 "$ROOT/packaging/deb/logrotate" "$STAGE/etc/logrotate.d/rampart-httpd"
install -d -m 0755 "$STAGE/usr/share/doc/rampart"
cp "$ROOT/README.md" "$STAGE/usr/share/doc/rampart/README.md"

# Control files.
version=$(sed -n 's/^project(rampart VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
[ -n "$version" ] || die "no project version in CMakeLists.txt"
arch=$(dpkg --print-architecture)
mkdir -p "$STAGE/DEBIAN" "$OUT/shlibs/debian"
: >"$OUT/shlibs/debian/control" # dpkg-shlibdeps wants to be in a source tree
mapfile -t elfs < <(find "$STAGE/usr" -type f \( -perm -u+x -o -name '*.so*' \) \
    -exec sh -c 'head -c4 "$1" | grep -q ELF' _ {} \; -print)
depends=$(cd "$OUT/shlibs" && dpkg-shlibdeps -O -l"$STAGE/usr/lib/$(gcc -print-multiarch)" \
    "${elfs[@]}" 2>"$OUT/shlibs/stderr" | sed -n 's/^shlibs:Depends=//p') ||
    { cat "$OUT/shlibs/stderr" >&2; die "dpkg-shlibdeps failed"; }
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

# llhttp's runtime package.  Debian 12 has none of its own: install-deps.sh
# installs trixie's libllhttp9.2, whose shlibs file gives the dependency.
# A libllhttp from elsewhere (built into /usr/local) would leave the package
# without it, or make dpkg-shlibdeps fail: say which library and why.
llhttp_so=$(for e in "${elfs[@]}"; do readelf -d "$e"; done |
    sed -n 's/.*(NEEDED).*\[\(libllhttp\.so[^]]*\)\].*/\1/p' | sort -u | head -n 1)
[ -n "$llhttp_so" ] || die "no binary links libllhttp: the build changed?"
llhttp_path=$(ldconfig -p | awk -v so="$llhttp_so" '$1 == so { print $NF; exit }')
[ -n "$llhttp_path" ] || die "$llhttp_so is not in the dynamic linker's cache"
llhttp_pkg=$(dpkg -S "$(readlink -f "$llhttp_path")" 2>/dev/null | head -n 1 | cut -d: -f1)
[ -n "$llhttp_pkg" ] || die "$llhttp_path ($llhttp_so) comes from no Debian package: install \
libllhttp9.2 (scripts/install-deps.sh) so the package can depend on it"
grep -Eq "(^|, )$llhttp_pkg( \(|,|\$)" <<<"$depends" ||
    die "Depends names no $llhttp_pkg (the package of $llhttp_so): $depends"
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$version-1/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" "$ROOT/packaging/deb/control.in" >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find etc -type f | sed 's|^|/|' | sort) >"$STAGE/DEBIAN/conffiles"
for s in postinst prerm postrm; do
    install -m 0755 "$ROOT/packaging/deb/$s" "$STAGE/DEBIAN/$s"
done

deb=$OUT/rampart_${version}-1_${arch}.deb
fakeroot dpkg-deb --build -Zxz "$STAGE" "$deb" >/dev/null
echo "$deb"
