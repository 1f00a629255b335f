// HDF5's C API for the Swift `HDF5` target. Type, property-list and flag constants are
// macros (often reading `*_g` globals) that Swift cannot import; each one is wrapped here in a
// `static inline` function so the Swift side never touches a macro or a global.
#ifndef ABLATE_CHDF5_SHIM_H
#define ABLATE_CHDF5_SHIM_H
#include <hdf5.h>

// File access flags.
static inline unsigned ablate_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned ablate_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned ablate_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned ablate_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline unsigned ablate_H5F_OBJ_ALL(void) { return H5F_OBJ_ALL; }
static inline hid_t ablate_H5F_OBJ_ALL_ID(void) { return (hid_t)H5F_OBJ_ALL; }

// Defaults and special values.
static inline hid_t ablate_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t ablate_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline hid_t ablate_H5S_ALL(void) { return H5S_ALL; }
static inline hsize_t ablate_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline size_t ablate_H5T_VARIABLE(void) { return H5T_VARIABLE; }

// Property-list classes.
static inline hid_t ablate_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t ablate_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t ablate_H5P_LINK_CREATE(void) { return H5P_LINK_CREATE; }
static inline hid_t ablate_H5P_GROUP_CREATE(void) { return H5P_GROUP_CREATE; }

// Native and standard types.
static inline hid_t ablate_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t ablate_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t ablate_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t ablate_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t ablate_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t ablate_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t ablate_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t ablate_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t ablate_H5T_C_S1(void) { return H5T_C_S1; }

// Walk callback type, named so Swift sees a plain C function pointer.
typedef herr_t (*ablate_H5E_walk_cb)(unsigned n, const H5E_error2_t *err_desc, void *client_data);
typedef herr_t (*ablate_H5A_iter_cb)(hid_t location_id, const char *attr_name, const H5A_info_t *ainfo, void *op_data);

#endif
