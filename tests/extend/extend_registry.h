/* extend_registry.h — the registry lines of the extension test's variant build
 * (tests/extend/CMakeLists.txt), force-included into quantizers/quant_core.c, models/model.c
 * and models/data.c, whose registry arrays end with a QSGDSIM_EXTRA_* hook. Each block is
 * what a new type adds to its registry file: the declaration and the one registry line.
 * Deleting a registry line makes test extend_* fail (the type is unknown). */
#ifndef QSGDSIM_EXTEND_REGISTRY_H
#define QSGDSIM_EXTEND_REGISTRY_H

#include "data.h"
#include "model.h"
#include "quant.h"

extern const quant_type quant_type_xtest; /* quant_xtest.c */
#define QSGDSIM_EXTRA_QUANT_TYPES &quant_type_xtest

extern const model_type model_type_xtest; /* model_xtest.c */
#define QSGDSIM_EXTRA_MODEL_TYPES &model_type_xtest

extern const data_source data_source_xtest; /* data_xtest.c */
#define QSGDSIM_EXTRA_DATA_SOURCES &data_source_xtest

#endif /* QSGDSIM_EXTEND_REGISTRY_H */
