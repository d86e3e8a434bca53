/* interrupt.c — see interrupt.h. */
#include "interrupt.h"

volatile sig_atomic_t lctw_interrupt_flag = 0;

lctw_status lctw_check_interrupt(void) {
    if (lctw_interrupt_flag) return LCTW_FAIL(LCTW_EINTR, "interrupted");
    return LCTW_OK;
}
