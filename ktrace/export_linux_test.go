package ktrace

// ObjectIDs returns the kernel IDs of the tracer's programs, maps and links, for
// the test that checks Close removes them all.
func ObjectIDs(t *Tracer) (progs, maps, links []uint32, err error) {
	for _, p := range t.progs {
		info, err := p.Info()
		if err != nil {
			return nil, nil, nil, err
		}
		id, _ := info.ID()
		progs = append(progs, uint32(id))
	}
	for _, m := range t.allMaps() {
		info, err := m.Info()
		if err != nil {
			return nil, nil, nil, err
		}
		id, _ := info.ID()
		maps = append(maps, uint32(id))
	}
	for _, l := range t.links {
		info, err := l.Info()
		if err != nil {
			return nil, nil, nil, err
		}
		links = append(links, uint32(info.ID))
	}
	return progs, maps, links, nil
}
