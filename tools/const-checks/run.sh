#!/usr/bin/env bash
# Builds src/main.rs, where every line builds one hand-written component with a constant out
# of its range, and checks that each line fails the build with its own E0080 (the
# compile-time checks of `gdf::konst`). CI runs it (README's test commands). It builds into
# the repository's target/ (its Cargo.lock is the root's), so after `cargo test` it takes
# seconds.   bash tools/const-checks/run.sh
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target}"
# The parameter each line's comment names, and the first parameter each error names.
want=$(grep '^    let _ = ' src/main.rs | sed -E 's|.*// ([a-z_]+).*|\1|' | sort)
got=$(cargo build --quiet 2>&1 | grep '^error\[E0080\]: evaluation panicked' \
  | sed -E 's|[^`]*`([a-z_]+)`.*|\1|' | sort || true)
echo "lines: $(echo "$want" | grep -c .), E0080 errors: $(echo "$got" | grep -c .)"
diff <(echo "$want") <(echo "$got")
