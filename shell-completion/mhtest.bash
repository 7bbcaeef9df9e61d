# bash completion for mhtest
