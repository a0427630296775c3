#!/usr/bin/env bash
# Builds the Debian package for a bastion host: `scripts/package.sh` → target/debian/triage_*.deb
# (release binary, man pages, bash/zsh/fish completions, the `triage watch` systemd unit with
# /usr/bin paths, example config and keymap under /usr/share/doc/triage/examples). Installs
# cargo-deb (pinned) when it is missing. Prints the package's size and the installed binary's
# cold start (`triage --help`, first run after the build) at the end.
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
deb=$(cargo deb --no-build --no-strip 2>&1 | tail -1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb --info "$deb" | sed -n 's/^ \(Package\|Version\|Installed-Size\|Depends\):/  \1:/p'
dpkg-deb --contents "$deb" | awk '{print "  " $6}'
start=$(date +%s%N); "$bin" --help >/dev/null; end=$(date +%s%N)
echo "cold start of triage --help: $(( (end - start) / 1000000 )) ms"
