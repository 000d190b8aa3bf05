/* cmd_keys — placeholder replaced by the module's real command implementation. */
#include <stdio.h>

#include "main/commands.h"

int cmd_keys(struct config *cfg, int argc, char **argv)
{
    fprintf(stderr, "shiplog: 'keys' is not built yet\n");
    return MAIN_EXIT_USAGE;
}
