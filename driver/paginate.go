package driver

import (
	"cmp"
	"slices"
)

// paginate sorts and pages manageable entries with the semantics of
// Cinder's paginate_entries_list: sort by the keys ("reference" or
// "size") in their directions ("asc" or "desc"), start after the entry
// whose reference equals marker (an unknown marker is an error), skip
// offset entries, return at most limit.
func paginate(entries []ManageableVolume, marker map[string]string, limit, offset *int, keys, dirs []string) ([]ManageableVolume, error) {
	if len(keys) == 0 {
		keys = []string{"reference"}
	}
	if len(dirs) > len(keys) {
		return nil, errorf(KindInvalid, "get_manageable_volumes: %d sort_dirs for %d sort_keys; give one direction per key", len(dirs), len(keys))
	}
	sign := make([]int, len(keys))
	for i, k := range keys {
		if k != "reference" && k != "size" {
			return nil, errorf(KindInvalid, "get_manageable_volumes: sort key %q: want reference or size", k)
		}
		dir := "asc"
		if i < len(dirs) {
			dir = dirs[i]
		} else if len(dirs) > 0 {
			dir = dirs[0]
		}
		switch dir {
		case "asc":
			sign[i] = 1
		case "desc":
			sign[i] = -1
		default:
			return nil, errorf(KindInvalid, "get_manageable_volumes: sort direction %q: want asc or desc", dir)
		}
	}
	if limit != nil && *limit < 0 || offset != nil && *offset < 0 {
		return nil, errorf(KindInvalid, "get_manageable_volumes: limit and offset must be >= 0")
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b ManageableVolume) int {
		for i, k := range keys {
			var c int
			if k == "size" {
				c = cmp.Compare(a.Size, b.Size)
			} else {
				c = cmp.Compare(a.Reference["source-name"], b.Reference["source-name"])
			}
			if c != 0 {
				return sign[i] * c
			}
		}
		return 0
	})
	start := 0
	if len(marker) > 0 {
		start = -1
		for i, e := range sorted {
			if maps(e.Reference, marker) {
				start = i + 1
				break
			}
		}
		if start < 0 {
			return nil, errorf(KindInvalid, "get_manageable_volumes: marker %v not found; pass the reference of an entry of the previous page", marker)
		}
	}
	if offset != nil {
		start += *offset
	}
	start = min(start, len(sorted))
	end := len(sorted)
	if limit != nil {
		end = min(end, start+*limit)
	}
	return sorted[start:end], nil
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
