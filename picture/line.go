package picture

import "strings"

// line is one row of terminal cells, each with the colour it is drawn in.
type line struct {
	cells []rune
	cols  []string // ANSI colour of each cell, "" for none
}

// put writes s from column x on, growing the line when s runs past its end.
func (l *line) put(x int, s, col string) {
	for _, r := range s {
		if x < 0 {
			x++
			continue
		}
		for x >= len(l.cells) {
			l.cells = append(l.cells, ' ')
			l.cols = append(l.cols, "")
		}
		l.cells[x], l.cols[x] = r, col
		x++
	}
}

// clip cuts the line at width columns, ending it in … when something was cut.
func (l *line) clip(width int) *line {
	if len(l.cells) > width && width > 0 {
		cut := false
		for _, r := range l.cells[width:] {
			if r != ' ' {
				cut = true
			}
		}
		l.cells, l.cols = l.cells[:width], l.cols[:width]
		if cut {
			l.cells[width-1] = '…'
		}
	}
	return l
}

// String renders the line without trailing blanks, colour changes as ANSI escapes.
func (l *line) String() string {
	end := len(l.cells)
	for end > 0 && l.cells[end-1] == ' ' {
		end--
	}
	var b strings.Builder
	cur := ""
	for i := 0; i < end; i++ {
		if col := l.cols[i]; col != cur && l.cells[i] != ' ' {
			if cur != "" {
				b.WriteString(reset)
			}
			b.WriteString(col)
			cur = col
		}
		b.WriteRune(l.cells[i])
	}
	if cur != "" {
		b.WriteString(reset)
	}
	return b.String()
}
