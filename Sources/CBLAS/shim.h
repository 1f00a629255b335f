// OpenBLAS's CBLAS interface, plus its thread-count controls, for the Tensor target.
#ifndef ABLATE_CBLAS_SHIM_H
#define ABLATE_CBLAS_SHIM_H
#include <cblas.h>
#endif
