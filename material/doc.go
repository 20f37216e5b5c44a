// Package material turns the energy bins of a spectral reconstruction into
// maps of what each voxel is made of: volume fractions of water and lipid,
// and concentrations in mg/mL of hydroxyapatite (calcium in bone), iodine
// and gadolinium.
//
// # Model
//
// In every bin b the reconstructed attenuation of a voxel (1/mm) is taken
// to be linear in its contents,
//
//	μ_b = Σ_m c_m · A_mb,
//
// where c_m is the amount of material m (a volume fraction for water and
// lipid, mg/mL for the others) and A_mb its attenuation per unit amount in
// bin b (1/mm per unit): Bragg additivity of mass attenuation, which holds
// for mixtures and solutions (Jackson and Hawkes, Phys. Rep. 70, 169, 1981),
// with one effective A per bin. The amounts of one voxel also fill it:
//
//	Σ_base f_m + Σ_solute c_m·v_m = 1,
//
// the volume conservation of three-material decomposition (X. Liu, L. Yu,
// A. N. Primak, C. H. McCollough, Med. Phys. 36, 1602, 2009): the base
// materials' fractions plus the volume the solutes displace, v_m = 1/ρ_m
// (mL/mg, the pure material's density: 3.16 g/mL for hydroxyapatite). The
// conservation equation is used whenever the set holds water or lipid.
//
// # Calibration
//
// A is the Calibration. Calibrate measures it the way a spectral CT lab
// does: on the reconstruction of a scan of vials of known content (listed
// in its scan.json, sinogram.Vial), by least squares over the vials for
// every bin (one unknown per material, one equation per vial), reporting
// the fit's residuals and the condition number of the vials' concentration
// matrix; a fit worse conditioned than MaxFitCondition is refused, since
// its A would be noise. Physics computes A for scans without one, from the
// bins' share of the tube spectrum and the NIST mass attenuation tables,
// as the simulator (package scansim) does. Either is saved as JSON naming
// the bins (keV ranges) it holds for, and refused for other bins.
//
// # Decomposition
//
// Per voxel the amounts are the non-negative least-squares solution of the
// bins' equations, each weighted by the inverse of its bin's noise (with
// the calibration fit's residual there, see modelError), with the
// conservation equation met exactly: each passive set's solve adds the
// equation's Lagrange multiplier (least squares with an equality
// constraint, Lawson and Hanson ch. 20), so that a voxel's volumes never
// sum over 1, whatever the set. Weighted as a soft equation (Lawson and
// Hanson's weighting method, ch. 22) it was traded for the bins' misfit
// where the set lacks a material in the scan: a 296 mg/mL
// hydroxyapatite vial decomposed into water and iodine read 100.67 % of
// water.
// The solver is the active-set algorithm of C. L. Lawson and R. J. Hanson,
// "Solving Least Squares Problems" (Prentice-Hall, 1974), ch. 23, in the
// normal-equation form of R. Bro and S. De Jong, "A fast
// non-negativity-constrained least squares algorithm", J. Chemometrics 11,
// 393 (1997): every voxel shares the system matrix, so the inverses of the
// normal matrices of all subsets of materials are computed once and a
// voxel's solve allocates nothing. A set of more materials than the bins
// and the conservation equation determine, or one whose equations are
// nearly dependent (condition number over MaxCondition), is refused before
// any work, saying why.
//
// Water, lipid and hydroxyapatite differ little in shape across the bins,
// so one direction of the amounts (a volume of water traded for one of
// lipid and some mineral) is nearly a null direction of the equations: a
// voxel's noise along it is hundreds of times its noise along the others,
// and the non-negativity would clip its negative half into bias (lipid in
// water). A map is therefore decomposed with a local prior along such
// directions (Decomposer.PriorMM): the voxels' unconstrained solutions'
// coordinate along them, smoothed by a guided filter (K. He, J. Sun and
// X. Tang, "Guided image filtering", ECCV 2010) that the bins' mean
// attenuation guides, toward which every voxel's solve is regularised
// along those directions alone (Tikhonov regularisation toward a prior,
// P. C. Hansen, "Rank-Deficient and Discrete Ill-Posed Problems", SIAM
// 1998): the penalty adds to the normal matrix, so the solver above is
// unchanged, and the other directions (iodine, gadolinium) keep each
// voxel's own bins.
//
// Solve decomposes one set of attenuations, and RegionAmounts a region's
// mean bins: the way a vial's content is measured, whose noise is that
// of many voxels.
//
// # Beam hardening
//
// The model is linear only if each bin's attenuation does not depend on
// what the rays crossed before. Linearization corrects every bin's line
// integrals for water (water precorrection) from the tube spectrum before
// reconstruction, in every job that calibrates or decomposes, so that a
// vial reads alike near the axis and near the rim. Hardening then removes
// what that leaves, the hardening by the mineral and the contrast agents
// themselves, in a second pass after reconstruction (the two-pass bone
// correction of Joseph and Spital, 1978): the first pass's maps, forward
// projected on a coarse grid, give each ray's amounts of every material,
// the spectrum gives the error they cause, and its reconstruction is
// added to the bins. In a vial of hydroxyapatite 300 mg/mL it halves the
// volume the decomposition moves from water to lipid (0.055 to 0.025 on
// noiseless scans), which matters because water, lipid and the mineral
// are nearly dependent: one volume of lipid for one of water plus
// 43 mg/mL of mineral changes no bin by more than 0.2 % of water's
// attenuation. For the same reason a calibration scan wants many photons
// (see Calibrate).
//
// # Air
//
// Voxels whose attenuation averages under half of water's (air, and the
// zeros outside the field of view) are left at zero in every map: volume
// conservation would otherwise fill air with water. Voxels within airReach
// voxels of them hold air too, as a material of zero attenuation (volume
// conservation becomes: the volumes sum to at most 1, the rest is air),
// the way Mendonça, Lamb and Sahani's multi-material decomposition (IEEE
// Trans. Med. Imaging 33, 99, 2014) includes air among its materials: an
// object's edge is partly air, and with conservation alone its low
// attenuation read as lipid, the least attenuating base (a water
// cylinder's outer millimetre 0.96 lipid and 28 mg/mL of mineral; with
// air, water at its partial volume and no lipid). Only there: inside
// tissue the conservation equation stays exact, since with air allowed
// a voxel's noise that lowers its attenuation would read as air.
package material
