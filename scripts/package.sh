#!/usr/bin/env bash
# Builds the Debian package for a bastion host: `scripts/package.sh` → target/debian/triage_*.deb
# (release binary, man pages, bash/zsh/fish completions, the `triage watch` systemd unit with
# /usr/bin paths, example config and keymap under /usr/share/doc/triage/examples). Installs
# cargo-deb (pinned) when it is missing. Prints the package's size, its contents, and the first
# run of the packaged binary (`triage --help`) at the end.
#   sudo apt install ./target/debian/triage_*.deb
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version >/dev/null 2>&1; then
    cargo install --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
cargo build --release --locked
out=target/package
rm -rf "$out" && mkdir -p "$out/man" "$out/completions"
bin=target/release/triage
"$bin" man --dir "$out/man"
"$bin" completions bash > "$out/completions/triage.bash"
"$bin" completions zsh > "$out/completions/_triage"
"$bin" completions fish > "$out/completions/triage.fish"
sed 's#/usr/local/bin/triage#/usr/bin/triage#' assets/triage-watch.service > "$out/triage-watch.service"
# The release profile keeps line tables for benchmarks' profiles; the package ships it stripped.
cp "$bin" "$out/triage" && strip "$out/triage"
deb=$(cargo deb --no-build 2>&1 | tail -1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Installed-Size\|Depends\):/  \1:/p'
dpkg-deb --contents "$deb" | awk '{print "  " $6}'
# The packaged (stripped) binary, extracted as dpkg would install it; its first run.
root=$(mktemp -d); trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
ls -l "$root/usr/bin/triage" | awk '{print "  binary: " $5 " bytes"}'
start=$(date +%s%N); "$root/usr/bin/triage" --help >/dev/null; end=$(date +%s%N)
echo "first run of the packaged triage --help: $(( (end - start) / 1000000 )) ms"
