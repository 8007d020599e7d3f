c['linux']['namespaces'] = [n for n in c['linux']['namespaces'] if n['type']!='network'] + [{'type':'network','path':'/proc/10845/ns/net'}]
c['mounts'] = [m for m in c['mounts'] if m['type'] not in ('sysfs',)]
c['process']['args']=['/bin/sh','-c','ls -l /proc/self/ns/net']
