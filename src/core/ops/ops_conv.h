/* ops_conv.h — convolution-family ops (declarations; included by ops.h).
 * Add each op to LCTW_OP_LIST_CONV and declare its lctw_op_<name> function here. */
#ifndef LCTW_OPS_CONV_H
#define LCTW_OPS_CONV_H

#include "../autograd.h"

#define LCTW_OP_LIST_CONV(X)

#endif
