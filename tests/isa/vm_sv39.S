// Sv39 (satp.MODE 8, three levels): see vm_body.h.
#define VM_LEVELS 3
#define VM_MODE 8
#define VM_NONCANON 0x0000004000000000
#include "vm_body.h"
