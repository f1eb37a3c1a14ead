#!/usr/bin/env bash
# odf-sim inspect --dot: the DOT parses (dot -Tsvg), and the shared PTE tables and the PMD entries pointing to them
# that the picture shows are as many as the model counts (inspect --json: tables with refcount > 1, the sum of their
# refcounts).  Usage: inspect-dot.sh ODF_SIM SOURCE_DIR WORKDIR
set -euo pipefail
sim=$1
src=$2
work=$3
rm -rf "$work" && mkdir -p "$work"
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
# svg_count FILE CLASS: nodes/edges of that class in the rendered SVG (Graphviz keeps `class` as "node CLASS").
svg_count() {
	grep -c "<g id=\"[a-z]*[0-9]*\" class=\"$2\">" "$1" || true
}
json_count() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["counts"][sys.argv[2]])' "$1" "$2"
}
check() { # TRACE LINE MODE [EXPECTED_SHARED EXPECTED_REFS]
	local t=$1 line=$2 mode=$3 name
	name=$(basename "$t" .trace)-$line-$mode
	"$sim" inspect "$t" --line "$line" --mode "$mode" --dot >"$work/$name.dot"
	dot -Tsvg "$work/$name.dot" -o "$work/$name.svg" || fail "$name: dot cannot render the DOT"
	"$sim" inspect "$t" --line "$line" --mode "$mode" --json >"$work/$name.json"
	local nodes edges tables refs all_tables
	nodes=$(svg_count "$work/$name.svg" "node table shared")
	edges=$(svg_count "$work/$name.svg" "edge shared")
	all_tables=$(($(svg_count "$work/$name.svg" "node table") + nodes))
	tables=$(json_count "$work/$name.json" shared_pte_tables)
	refs=$(json_count "$work/$name.json" shared_pte_table_refs)
	((nodes == tables)) || fail "$name: $nodes shared table nodes drawn, the model has $tables shared tables"
	((edges == refs)) || fail "$name: $edges edges to shared tables drawn, their refcounts sum to $refs"
	(($(json_count "$work/$name.json" pte_tables) == all_tables)) || fail "$name: $all_tables table nodes drawn"
	if (($# == 5)); then
		((tables == $4 && refs == $5)) || fail "$name: $tables shared tables ($refs refs), expected $4 ($5)"
	fi
	echo "$name: $nodes shared tables, $edges edges to them, $all_tables tables"
}
# The hand-made trace: after the second fork, table 0 is shared by 1 and 3, tables 1-3 by 1, 2 and 3 (ODF);
# classic fork shares none.
check "$src/tests/data/inspect-shared.trace" 7 odf 4 11
check "$src/tests/data/inspect-shared.trace" 5 odf 4 8
check "$src/tests/data/inspect-shared.trace" 7 classic 0 0
# The difftest trace of ODF table sharing (breaks, ownership moves, an exclusive table) at a few lines.
for line in 12 16 27 40; do
	check "$src/traces/difftest/odf-tables.trace" $line odf
done
echo "inspect-dot: ok"
