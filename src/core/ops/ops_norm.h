/* ops_norm.h — normalisation, attention, embedding and token-layout ops (declarations;
 * included by ops.h). Add each op to LCTW_OP_LIST_NORM and declare its lctw_op_<name> here. */
#ifndef LCTW_OPS_NORM_H
#define LCTW_OPS_NORM_H

#include "../autograd.h"

#define LCTW_OP_LIST_NORM(X)

#endif
