package radiomics

func init() {
	for _, f := range []string{"morph", "loc"} {
		if _, ok := familyTable[f]; !ok {
			familyTable[f] = family{defs: func() []Definition { return nil }, compute: func(*roi) []Feature { return nil }}
		}
	}
}
