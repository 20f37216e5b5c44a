// Package spatial indexes the spatial layout of an image's objects as a
// virtual image and answers queries by example or by icons on it.
//
// The model is Petraglia, Sebillo, Tucci and Tortora, "Virtual images for
// similarity retrieval in image databases", IEEE Transactions on Knowledge
// and Data Engineering 13(6):951-967, 2001. A virtual image is a set of
// objects and, on each axis, one relation per pair of objects' extents,
// written "A op B" with the operators
//
//	<  A ends before B begins         |  A ends where B begins
//	=  the same extent                [  both begin together, A ends last
//	]  both end together, A begins first
//	%  B lies inside A, touching neither end
//	/  A begins first and ends inside B
//
// and their inverses written with the operands swapped ("B < A"): Allen's
// thirteen interval relations (Relation). Objects are bounding extents in mm
// (Object), independent of how they were segmented; Objects derives them
// from a label image, per volume (x, y, z: Volume) and per axial slice (x,
// y: Slice).
//
// A query (F, G, Rel, t) names mandatory objects F and optional objects G by
// class, the relations wanted between them, and a threshold t; Query.Eval
// gives the similarity degree SIM_deg in [0, 1], in which each object found
// counts 1 and each relation its similarity to the image's, 1 − d/4 for d
// steps in the interval neighbourhood graph (Freksa 1992), not less than 0.
//
// The paper's full text could not be read where this package was written
// (only its abstract); the operators, the similarity 1 − d/4 and the form of
// the query come from the project's brief and the literature around the
// paper, and the normalisation of SIM_deg, the graph over all thirteen
// relations and the assignment of several objects of one class are this
// package's, documented where they are defined. The example image of the
// tests is constructed, not the paper's.
package spatial
