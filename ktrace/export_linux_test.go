package ktrace

import "github.com/cilium/ebpf"

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

// RunProgram runs one of a tracepoint's two programs once through BPF_PROG_TEST_RUN
// on a CPU, with args as the raw tracepoint's arguments. The tracer must have been
// opened with Options.Congestion, so that progs holds every tracepoint's pair in
// progSpecs order.
func RunProgram(t *Tracer, tracepoint string, isBackup bool, cpu int, args []uint64) error {
	i := specIndex(tracepoint)
	p := t.progs[2*i]
	if isBackup {
		p = t.progs[2*i+1]
	}
	const onCPU = 1 // BPF_F_TEST_RUN_ON_CPU
	_, err := p.Run(&ebpf.RunOptions{Context: args, CPU: uint32(cpu), Flags: onCPU})
	return err
}

// BusyMark reads a tracepoint primary's busy mark on every CPU.
func BusyMark(t *Tracer, tracepoint string) ([]uint64, error) {
	var per []uint64
	err := t.maps.stats.Lookup(uint32(statBusy+specIndex(tracepoint)), &per)
	return per, err
}

// SetBusyMark sets a tracepoint primary's busy mark on one CPU, as the primary
// leaves it while it is interrupted there.
func SetBusyMark(t *Tracer, tracepoint string, cpu int, v uint64) error {
	per, err := BusyMark(t, tracepoint)
	if err != nil {
		return err
	}
	per[cpu] = v
	return t.maps.stats.Update(uint32(statBusy+specIndex(tracepoint)), per, ebpf.UpdateExist)
}

func specIndex(tracepoint string) int {
	for i, s := range progSpecs {
		if s.tracepoint == tracepoint {
			return i
		}
	}
	panic("no tracepoint " + tracepoint)
}
