/*
 * The QEMU mps2-an386 board (ARM's MPS2 FPGA image AN386: a Cortex-M4F with FPU and DSP
 * extension) as the runtime's port sees it: reset and fault handling, a deterministic
 * instruction counter, and stack painting.
 *
 * Memory (mps2_an386.ld): code in the 4 MiB SSRAM1 at 0x00000000 (stands for internal flash),
 * constants in PSRAM at 0x21000000 (memory-mapped flash), the SRAM budget at 0x20000000 (.data,
 * .bss, then the stack up to the budget's end), and measurement-only memory at 0x21C00000
 * (OOC_HARNESS: sample buffers and counters that a real application would not hold; not part of
 * the budget).
 */
#ifndef OOC_BOARD_H
#define OOC_BOARD_H

#include <stdint.h>

/* Put a static object in the measurement-only region. */
#define OOC_HARNESS __attribute__((section(".harness")))

/* The CMSDK timer the counter reads runs at the board's 25 MHz; under `-icount shift=0` QEMU
   runs one instruction per virtual nanosecond, so one tick is 40 instructions. */
#define OOC_BOARD_INSTRUCTIONS_PER_TICK 40u

/* Start the free-running counter (32 bits of ticks: 171 billion instructions). */
void ooc_board_counter_start(void);
/* Ticks since ooc_board_counter_start(), modulo 2^32. */
uint32_t ooc_board_ticks(void);

/* Fill the unused stack (from the stack's lowest address up to a margin below the caller's
   frame) with a pattern, and later measure the deepest byte that changed. */
void ooc_board_stack_paint(uint32_t pattern);
uint32_t ooc_board_stack_used(uint32_t pattern);
/* Bytes between the end of .bss and the top of the SRAM budget: the stack's room. */
uint32_t ooc_board_stack_room(void);
/* .data + .bss in the budgeted SRAM. */
uint32_t ooc_board_static_ram(void);

/* The application's entry point (called by the reset handler with .data and .bss set up and
   the FPU on); its return value is the exit status. */
int main(void);

#endif /* OOC_BOARD_H */
