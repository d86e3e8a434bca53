/* interrupt.h — Ctrl-C as a flag.
 *
 * The SIGINT handler (installed by the front end) only sets lctw_interrupt_flag. Long C loops
 * (element-wise ops over large tensors, blocked matmul, training steps) poll lctw_interrupted()
 * between chunks and return LCTW_EINTR, so the caller gets back to the prompt with every object
 * in a consistent state. The front end clears the flag before it runs the next chunk of code.
 */
#ifndef LCTW_INTERRUPT_H
#define LCTW_INTERRUPT_H

#include <signal.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

extern volatile sig_atomic_t lctw_interrupt_flag;

static inline int lctw_interrupted(void) { return lctw_interrupt_flag != 0; }
static inline void lctw_interrupt_clear(void) { lctw_interrupt_flag = 0; }
/* Returns LCTW_EINTR with the message "interrupted" if the flag is set, else LCTW_OK. */
lctw_status lctw_check_interrupt(void);

#ifdef __cplusplus
}
#endif

#endif
