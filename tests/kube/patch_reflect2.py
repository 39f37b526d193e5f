"""Make Kubernetes 1.20's vendored reflect2 (v1.0.1) work when built with Go 1.18 or newer.

Go 1.18 changed `reflect.mapiterinit` to fill in an iterator the caller allocates instead of
returning one; reflect2 v1.0.1 links to it with the old signature, so json-iterator's map
encoder reads garbage and the API server dies (SIGSEGV in aeshashbody) as soon as it encodes a
map through it: every create of a custom resource. This is reflect2 v1.0.2's fix
(go_above_118.go), applied in place. Usage: patch_reflect2.py <vendor/github.com/modern-go/reflect2>
"""

from __future__ import annotations

import sys
from pathlib import Path

OLD_DECL = "func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter\n"
NEW_DECL = "func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)\n"
OLD_HITER = """type hiter struct {
	key   unsafe.Pointer // Must be in first position.  Write nil to indicate iteration end (see cmd/internal/gc/range.go).
	value unsafe.Pointer // Must be in second position (see cmd/internal/gc/range.go).
	// rest fields are ignored
}
"""
# runtime.hiter of Go 1.18-1.21: the caller allocates it, so its size must be right.
NEW_HITER = """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}
"""
OLD_ITERATE = """	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
"""
NEW_ITERATE = """	var it hiter
	mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)
	return &UnsafeMapIterator{
		hiter:      &it,
"""


def replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if new in text:
        return  # patched already
    if old not in text:
        sys.exit(f"{path}: the code to patch is not there; reflect2 changed")
    path.write_text(text.replace(old, new))


def main(directory: str) -> None:
    root = Path(directory)
    replace(root / "unsafe_link.go", OLD_DECL, NEW_DECL)
    replace(root / "unsafe_link.go", OLD_HITER, NEW_HITER)
    replace(root / "unsafe_map.go", OLD_ITERATE, NEW_ITERATE)


if __name__ == "__main__":
    main(sys.argv[1])
