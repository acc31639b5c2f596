/*
 * Reset, vector table, faults, counter and stack painting for QEMU mps2-an386 (board.h).
 * A real board's startup does the same steps: copy .data from flash, zero .bss, enable the FPU
 * before any floating-point instruction, then call main().
 */
#include "board.h"

#include <string.h>

#include "semihost.h"

/* Linker script symbols (mps2_an386.ld). */
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __harness_start[], __harness_end[], __stack_limit[], __stack_top[];

#define REG(addr) (*(volatile uint32_t *)(addr))
#define SCB_CPACR REG(0xE000ED88u)
#define SCB_CFSR REG(0xE000ED28u)
#define TIMER0_CTRL REG(0x40000000u)
#define TIMER0_VALUE REG(0x40000004u)
#define TIMER0_RELOAD REG(0x40000008u)

void ooc_reset_handler(void);
static void fault_handler(void);

/* Initial stack pointer, reset, NMI, HardFault, MemManage, BusFault, UsageFault. */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top,
    ooc_reset_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
    fault_handler,
};

static void put_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    char s[11];
    int i;
    s[0] = '0';
    s[1] = 'x';
    for (i = 0; i < 8; i++) {
        s[2 + i] = digits[(v >> (28 - 4 * i)) & 0xFu];
    }
    s[10] = '\0';
    sh_puts(s);
}

/* A fault ends the run with status 3 and a line saying so: the SDK reports it as a crash. */
static void fault_handler(void)
{
    sh_puts("ooc firmware: fault (CFSR ");
    put_hex(SCB_CFSR);
    sh_puts(")\n");
    sh_exit(3);
}

void ooc_reset_handler(void)
{
    uint32_t *src = __data_load, *dst = __data_start;
    SCB_CPACR |= 0xFu << 20; /* CP10 and CP11 full access: the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    while (dst < __data_end) {
        *dst++ = *src++;
    }
    for (dst = __bss_start; dst < __bss_end; dst++) {
        *dst = 0u;
    }
    for (dst = __harness_start; dst < __harness_end; dst++) {
        *dst = 0u;
    }
    sh_exit(main());
}

void ooc_board_counter_start(void)
{
    TIMER0_CTRL = 0u;
    TIMER0_RELOAD = 0xFFFFFFFFu;
    TIMER0_VALUE = 0xFFFFFFFFu;
    TIMER0_CTRL = 1u; /* enable, no interrupt */
}

uint32_t ooc_board_ticks(void)
{
    return 0xFFFFFFFFu - TIMER0_VALUE; /* the timer counts down */
}

/* Leave this much below the caller's frame unpainted: the painting loop's own frame. */
#define PAINT_MARGIN 64u

static uint32_t *stack_pointer(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

void ooc_board_stack_paint(uint32_t pattern)
{
    volatile uint32_t *p = __stack_limit;
    volatile uint32_t *end = stack_pointer() - PAINT_MARGIN / 4u;
    while (p < end) {
        *p++ = pattern;
    }
}

uint32_t ooc_board_stack_used(uint32_t pattern)
{
    const volatile uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == pattern) {
        p++;
    }
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

uint32_t ooc_board_stack_room(void)
{
    return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_limit);
}

uint32_t ooc_board_static_ram(void)
{
    return (uint32_t)((uintptr_t)__bss_end - (uintptr_t)__data_start);
}
