package dm

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of the on-disk dm-thin format that the XML must respect. The kernel
// packs a mapping as (data block << 24 | time) in 64 bits, so a mapping's
// time has 24 bits and a data block 40.
const (
	maxMappingTime = 1<<24 - 1
	maxDataBlock   = 1<<40 - 1
)

// WriteThinXML writes d in thin_dump's XML format, as thin-provisioning-tools
// 0.9.0 prints it (same attribute order, indentation and line breaks), so
// thin_restore reads it and a diff against thin_dump output is meaningful.
// Devices are written in id order and mappings in origin order; adjacent
// mappings that continue each other (next origin, next data block, same
// time) are merged into one range_mapping, as thin_dump does, and a run of
// one block is a single_mapping. d itself is not modified. A dump that
// ReadThinXML would refuse is refused here too, before anything is written,
// so that thin_restore is never handed metadata the kernel could not hold.
func WriteThinXML(w io.Writer, d *MetadataDump) error {
	if d == nil {
		return errors.New("thin xml: nil metadata dump")
	}
	c := canonicalDump(d)
	if err := validateDump(c); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<superblock uuid="%s" time="%d" transaction="%d" flags="%d" version="%d" data_block_size="%d" nr_data_blocks="%d"`,
		escapeAttr(c.UUID), c.Time, c.Transaction, c.Flags, c.Version, c.DataBlockSectors, c.NrDataBlocks)
	if c.MetadataSnap != 0 {
		fmt.Fprintf(bw, ` metadata_snap="%d"`, c.MetadataSnap)
	}
	bw.WriteString(">\n")
	for _, dev := range c.Devices {
		fmt.Fprintf(bw, "  <device dev_id=\"%d\" mapped_blocks=\"%d\" transaction=\"%d\" creation_time=\"%d\" snap_time=\"%d\">\n",
			dev.ID, dev.MappedBlocks, dev.Transaction, dev.CreationTime, dev.SnapTime)
		for _, m := range dev.Mappings {
			if m.Length == 1 {
				fmt.Fprintf(bw, "    <single_mapping origin_block=\"%d\" data_block=\"%d\" time=\"%d\"/>\n",
					m.OriginBlock, m.DataBlock, m.Time)
				continue
			}
			fmt.Fprintf(bw, "    <range_mapping origin_begin=\"%d\" data_begin=\"%d\" length=\"%d\" time=\"%d\"/>\n",
				m.OriginBlock, m.DataBlock, m.Length, m.Time)
		}
		bw.WriteString("  </device>\n")
	}
	bw.WriteString("</superblock>\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("thin xml: write: %w", err)
	}
	return nil
}

// ThinXMLError is a refusal of ReadThinXML: what is wrong and at which
// input line (1-based; 0 when the problem is not tied to one line).
type ThinXMLError struct {
	Line int
	Msg  string
}

func (e *ThinXMLError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("thin xml: line %d: %s", e.Line, e.Msg)
	}
	return "thin xml: " + e.Msg
}

// ReadThinXML parses thin_dump's XML strictly: one superblock holding
// devices holding range_mapping and single_mapping elements, nothing else
// (unknown or repeated elements and attributes, text, DOCTYPEs are
// refused); every attribute present, plain decimal, in the range the kernel
// format can hold; devices in ascending id order; each device's mappings
// sorted by origin, non-overlapping, inside the pool's data blocks and
// adding up to its mapped_blocks. The XML declaration and comments are
// allowed. Errors are *ThinXMLError.
//
// The result is canonical: mappings that continue each other are merged
// into one run, so reading what WriteThinXML wrote gives back the same
// value, and two XML texts with the same mappings read equal.
func ReadThinXML(r io.Reader) (*MetadataDump, error) {
	p := &xmlReader{dec: xml.NewDecoder(r)}
	p.dec.Strict = true
	p.dec.Entity = nil
	d, err := p.read()
	if err != nil {
		return nil, err
	}
	c := canonicalDump(d)
	if err := validateDump(c); err != nil {
		return nil, err
	}
	return c, nil
}

type xmlReader struct {
	dec *xml.Decoder
}

func (p *xmlReader) line() int {
	l, _ := p.dec.InputPos()
	return l
}

func (p *xmlReader) errorf(format string, args ...any) error {
	return &ThinXMLError{Line: p.line(), Msg: fmt.Sprintf(format, args...)}
}

// next returns the next element start or end, skipping whitespace,
// comments and (before the root only) the XML declaration.
func (p *xmlReader) next(beforeRoot bool) (xml.Token, error) {
	for {
		tok, err := p.dec.RawToken()
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, p.errorf("malformed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if strings.Trim(string(t), " \t\r\n") != "" {
				return nil, p.errorf("unexpected text %q", truncate(string(t)))
			}
		case xml.Comment:
		case xml.ProcInst:
			if !beforeRoot || t.Target != "xml" {
				return nil, p.errorf("unexpected processing instruction <?%s?>", t.Target)
			}
		case xml.Directive:
			return nil, p.errorf("unexpected directive <!%s>", truncate(string(t)))
		default:
			return nil, p.errorf("unexpected token %T", tok)
		}
	}
}

func (p *xmlReader) read() (*MetadataDump, error) {
	tok, err := p.next(true)
	if err == io.EOF {
		return nil, &ThinXMLError{Msg: "no superblock element"}
	}
	if err != nil {
		return nil, err
	}
	start, ok := tok.(xml.StartElement)
	if !ok || name(start.Name) != "superblock" {
		return nil, p.errorf("want <superblock> as the root element, got %s", describe(tok))
	}
	d, err := p.superblock(start)
	if err != nil {
		return nil, err
	}
	for {
		tok, err := p.next(false)
		if err == io.EOF {
			return nil, p.errorf("unexpected end of input inside <superblock>")
		}
		if err != nil {
			return nil, err
		}
		if end, ok := tok.(xml.EndElement); ok && name(end.Name) == "superblock" {
			break
		}
		start, ok := tok.(xml.StartElement)
		if !ok || name(start.Name) != "device" {
			return nil, p.errorf("want <device> or </superblock>, got %s", describe(tok))
		}
		dev, err := p.device(start)
		if err != nil {
			return nil, err
		}
		d.Devices = append(d.Devices, dev)
	}
	tok, err = p.next(false)
	if err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, p.errorf("unexpected %s after </superblock>", describe(tok))
	}
	return d, nil
}

func (p *xmlReader) superblock(start xml.StartElement) (*MetadataDump, error) {
	a, err := p.attrs(start, []string{"uuid", "time", "transaction", "flags", "version",
		"data_block_size", "nr_data_blocks"}, []string{"metadata_snap"})
	if err != nil {
		return nil, err
	}
	d := &MetadataDump{UUID: a["uuid"]}
	var v uint64
	if v, err = p.number(a, "time", 1<<32-1); err != nil {
		return nil, err
	}
	d.Time = uint32(v)
	if d.Transaction, err = p.number(a, "transaction", 1<<64-1); err != nil {
		return nil, err
	}
	if v, err = p.number(a, "flags", 1<<32-1); err != nil {
		return nil, err
	}
	d.Flags = uint32(v)
	if v, err = p.number(a, "version", 1<<32-1); err != nil {
		return nil, err
	}
	d.Version = uint32(v)
	if v, err = p.number(a, "data_block_size", 1<<32-1); err != nil {
		return nil, err
	}
	d.DataBlockSectors = uint32(v)
	if d.NrDataBlocks, err = p.number(a, "nr_data_blocks", maxDataBlock+1); err != nil {
		return nil, err
	}
	if _, ok := a["metadata_snap"]; ok {
		if d.MetadataSnap, err = p.number(a, "metadata_snap", 1<<64-1); err != nil {
			return nil, err
		}
		if d.MetadataSnap == 0 {
			return nil, p.errorf("metadata_snap 0: block 0 is the superblock, not a held root")
		}
	}
	return d, nil
}

func (p *xmlReader) device(start xml.StartElement) (DeviceDump, error) {
	a, err := p.attrs(start, []string{"dev_id", "mapped_blocks", "transaction", "creation_time", "snap_time"}, nil)
	if err != nil {
		return DeviceDump{}, err
	}
	var dev DeviceDump
	var v uint64
	if v, err = p.number(a, "dev_id", MaxThinID); err != nil {
		return DeviceDump{}, err
	}
	dev.ID = uint32(v)
	if dev.MappedBlocks, err = p.number(a, "mapped_blocks", 1<<64-1); err != nil {
		return DeviceDump{}, err
	}
	if dev.Transaction, err = p.number(a, "transaction", 1<<64-1); err != nil {
		return DeviceDump{}, err
	}
	if v, err = p.number(a, "creation_time", 1<<32-1); err != nil {
		return DeviceDump{}, err
	}
	dev.CreationTime = uint32(v)
	if v, err = p.number(a, "snap_time", 1<<32-1); err != nil {
		return DeviceDump{}, err
	}
	dev.SnapTime = uint32(v)
	for {
		tok, err := p.next(false)
		if err == io.EOF {
			return DeviceDump{}, p.errorf("unexpected end of input inside <device dev_id=%d>", dev.ID)
		}
		if err != nil {
			return DeviceDump{}, err
		}
		if end, ok := tok.(xml.EndElement); ok && name(end.Name) == "device" {
			return dev, nil
		}
		st, ok := tok.(xml.StartElement)
		if !ok {
			return DeviceDump{}, p.errorf("want a mapping or </device>, got %s", describe(tok))
		}
		var m Mapping
		switch name(st.Name) {
		case "range_mapping":
			m, err = p.rangeMapping(st)
		case "single_mapping":
			m, err = p.singleMapping(st)
		default:
			return DeviceDump{}, p.errorf("unknown element <%s> in <device>", name(st.Name))
		}
		if err != nil {
			return DeviceDump{}, err
		}
		if err := p.closeEmpty(st); err != nil {
			return DeviceDump{}, err
		}
		dev.Mappings = append(dev.Mappings, m)
	}
}

func (p *xmlReader) rangeMapping(st xml.StartElement) (Mapping, error) {
	a, err := p.attrs(st, []string{"origin_begin", "data_begin", "length", "time"}, nil)
	if err != nil {
		return Mapping{}, err
	}
	var m Mapping
	if m.OriginBlock, err = p.number(a, "origin_begin", 1<<64-1); err != nil {
		return Mapping{}, err
	}
	if m.DataBlock, err = p.number(a, "data_begin", maxDataBlock); err != nil {
		return Mapping{}, err
	}
	if m.Length, err = p.number(a, "length", maxDataBlock+1); err != nil {
		return Mapping{}, err
	}
	if m.Length == 0 {
		return Mapping{}, p.errorf("range_mapping of length 0")
	}
	t, err := p.number(a, "time", maxMappingTime)
	m.Time = uint32(t)
	return m, err
}

func (p *xmlReader) singleMapping(st xml.StartElement) (Mapping, error) {
	a, err := p.attrs(st, []string{"origin_block", "data_block", "time"}, nil)
	if err != nil {
		return Mapping{}, err
	}
	m := Mapping{Length: 1}
	if m.OriginBlock, err = p.number(a, "origin_block", 1<<64-1); err != nil {
		return Mapping{}, err
	}
	if m.DataBlock, err = p.number(a, "data_block", maxDataBlock); err != nil {
		return Mapping{}, err
	}
	t, err := p.number(a, "time", maxMappingTime)
	m.Time = uint32(t)
	return m, err
}

// closeEmpty consumes the end of a mapping element, which may hold nothing.
func (p *xmlReader) closeEmpty(st xml.StartElement) error {
	tok, err := p.next(false)
	if err == io.EOF {
		return p.errorf("unexpected end of input inside <%s>", name(st.Name))
	}
	if err != nil {
		return err
	}
	if end, ok := tok.(xml.EndElement); ok && name(end.Name) == name(st.Name) {
		return nil
	}
	return p.errorf("<%s> must be empty, got %s", name(st.Name), describe(tok))
}

// attrs collects an element's attributes, refusing unknown, repeated,
// namespaced and missing ones.
func (p *xmlReader) attrs(st xml.StartElement, required, optional []string) (map[string]string, error) {
	known := make(map[string]bool, len(required)+len(optional))
	for _, n := range required {
		known[n] = true
	}
	for _, n := range optional {
		known[n] = true
	}
	a := make(map[string]string, len(st.Attr))
	for _, at := range st.Attr {
		n := name(at.Name)
		if !known[n] {
			return nil, p.errorf("unknown attribute %q on <%s>", truncate(n), name(st.Name))
		}
		if _, dup := a[n]; dup {
			return nil, p.errorf("attribute %q repeated on <%s>", n, name(st.Name))
		}
		a[n] = at.Value
	}
	for _, n := range required {
		if _, ok := a[n]; !ok {
			return nil, p.errorf("<%s> lacks attribute %q", name(st.Name), n)
		}
	}
	return a, nil
}

// number parses attribute key as plain decimal no larger than max.
func (p *xmlReader) number(a map[string]string, key string, max uint64) (uint64, error) {
	s := a[key]
	v, err := parseDecimal(s)
	if err != nil {
		return 0, p.errorf("attribute %s: %v", key, err)
	}
	if v > max {
		return 0, p.errorf("attribute %s: %d is over the limit %d", key, v, max)
	}
	return v, nil
}

// canonicalDump returns a copy of d with devices sorted by id and each
// device's mappings sorted by origin and merged into maximal runs.
func canonicalDump(d *MetadataDump) *MetadataDump {
	c := *d
	c.Devices = make([]DeviceDump, len(d.Devices))
	for i, dev := range d.Devices {
		dev.Mappings = mergeMappings(dev.Mappings)
		c.Devices[i] = dev
	}
	sort.SliceStable(c.Devices, func(i, j int) bool { return c.Devices[i].ID < c.Devices[j].ID })
	return &c
}

// mergeMappings returns the runs sorted by origin with every run that
// continues the previous one (next origin, next data block, same time)
// folded into it. Overlaps are kept for validateDump to report.
func mergeMappings(in []Mapping) []Mapping {
	if len(in) == 0 {
		return nil
	}
	ms := append([]Mapping(nil), in...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].OriginBlock < ms[j].OriginBlock })
	out := ms[:1]
	for _, m := range ms[1:] {
		last := &out[len(out)-1]
		if last.Time == m.Time && last.OriginBlock+last.Length == m.OriginBlock &&
			last.DataBlock+last.Length == m.DataBlock && last.OriginBlock+last.Length > last.OriginBlock {
			last.Length += m.Length
			continue
		}
		out = append(out, m)
	}
	return out
}

// validateDump checks a canonical dump against the limits of the kernel's
// metadata format and its own internal consistency.
func validateDump(d *MetadataDump) error {
	bad := func(format string, args ...any) error {
		return &ThinXMLError{Msg: fmt.Sprintf(format, args...)}
	}
	if d.Version != 1 && d.Version != 2 {
		return bad("superblock version %d: the kernel knows metadata versions 1 and 2", d.Version)
	}
	b := d.DataBlockSectors
	if b < MinDataBlockSectors || b > MaxDataBlockSectors || b%MinDataBlockSectors != 0 {
		return bad("data_block_size %d sectors: want a multiple of %d between %d and %d",
			b, MinDataBlockSectors, MinDataBlockSectors, MaxDataBlockSectors)
	}
	if d.NrDataBlocks > maxDataBlock+1 {
		return bad("nr_data_blocks %d is over the limit %d", d.NrDataBlocks, uint64(maxDataBlock+1))
	}
	if !utf8.ValidString(d.UUID) || strings.IndexFunc(d.UUID, notXMLChar) >= 0 {
		return bad("superblock uuid %q holds a character XML cannot carry", d.UUID)
	}
	for i, dev := range d.Devices {
		if dev.ID > MaxThinID {
			return bad("device id %d is over the 24-bit limit %d", dev.ID, MaxThinID)
		}
		if i > 0 && d.Devices[i-1].ID == dev.ID {
			return bad("device %d appears twice", dev.ID)
		}
		var mapped, end uint64
		for j, m := range dev.Mappings {
			if m.Length == 0 {
				return bad("device %d: mapping of length 0 at origin %d", dev.ID, m.OriginBlock)
			}
			if m.OriginBlock+m.Length < m.OriginBlock {
				return bad("device %d: mapping at origin %d of length %d runs past the end of the address space",
					dev.ID, m.OriginBlock, m.Length)
			}
			if j > 0 && m.OriginBlock < end {
				return bad("device %d: mapping at origin %d overlaps the one before, which ends at %d",
					dev.ID, m.OriginBlock, end)
			}
			if m.DataBlock >= d.NrDataBlocks || m.Length > d.NrDataBlocks-m.DataBlock {
				return bad("device %d: data blocks %d..%d are outside the pool's %d data blocks",
					dev.ID, m.DataBlock, m.DataBlock+m.Length-1, d.NrDataBlocks)
			}
			if m.Time > maxMappingTime {
				return bad("device %d: mapping time %d is over the 24-bit limit", dev.ID, m.Time)
			}
			end = m.OriginBlock + m.Length
			mapped += m.Length
		}
		if mapped != dev.MappedBlocks {
			return bad("device %d: mapped_blocks is %d but its mappings cover %d blocks",
				dev.ID, dev.MappedBlocks, mapped)
		}
	}
	return nil
}

// escapeAttr escapes s for a double-quoted XML attribute.
func escapeAttr(s string) string {
	var b strings.Builder
	if err := xml.EscapeText(&b, []byte(s)); err != nil {
		return strconv.Quote(s)
	}
	return b.String()
}

func name(n xml.Name) string {
	if n.Space != "" {
		return n.Space + ":" + n.Local
	}
	return n.Local
}

func describe(tok xml.Token) string {
	switch t := tok.(type) {
	case xml.StartElement:
		return "<" + truncate(name(t.Name)) + ">"
	case xml.EndElement:
		return "</" + truncate(name(t.Name)) + ">"
	default:
		return fmt.Sprintf("%T", tok)
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// notXMLChar reports runes outside XML 1.0's Char production.
func notXMLChar(r rune) bool {
	switch {
	case r == 0x9 || r == 0xA || r == 0xD:
		return false
	case r >= 0x20 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
		return false
	}
	return true
}
